// writes/: the node merge patch, resourceVersion order and the
// read-your-writes view (WrittenNodes) the NodeWriter owns.

#include "writes/node_writer.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "writes/written_nodes.h"

namespace nodeguard::writes {
namespace {

std::shared_ptr<const kube::Node> NodeAt(const std::string& name, const std::string& rv) {
  auto n = std::make_shared<kube::Node>();
  n->meta.name = name;
  n->meta.resource_version = rv;
  return n;
}

TEST(EncodeNodePatchTest, CarriesResourceVersionAndOnlyWhatIsSet) {
  NodePatch patch;
  patch.annotations["nodeguard.io/remediation"] = "{\"x\":1}";
  auto doc = nlohmann::json::parse(EncodeNodePatch(patch, "42"));
  EXPECT_EQ(doc["metadata"]["resourceVersion"], "42");
  EXPECT_EQ(doc["metadata"]["annotations"]["nodeguard.io/remediation"], "{\"x\":1}");
  EXPECT_FALSE(doc.contains("spec"));  // Never touches taints or anything else.

  NodePatch cordon;
  cordon.unschedulable = true;
  doc = nlohmann::json::parse(EncodeNodePatch(cordon, "43"));
  EXPECT_EQ(doc["spec"], nlohmann::json({{"unschedulable", true}}));
  EXPECT_FALSE(doc["metadata"].contains("annotations"));
}

TEST(NewerResourceVersionTest, NumericWhenPossible) {
  EXPECT_TRUE(NewerResourceVersion("100", "99"));
  EXPECT_FALSE(NewerResourceVersion("99", "100"));
  EXPECT_FALSE(NewerResourceVersion("100", "100"));
  EXPECT_FALSE(NewerResourceVersion("abc", "1"));
  EXPECT_FALSE(NewerResourceVersion("", "1"));
}

TEST(EncodeNodePatchTest, WithoutAResourceVersionItIsUnconditional) {
  NodePatch patch;
  patch.annotations["nodeguard.io/early-warning-announced"] = "Degraded x";
  patch.annotations["nodeguard.io/early-warning-thresholds"] = std::nullopt;
  EXPECT_EQ(EncodeNodePatch(patch, ""),
            R"({"metadata":{"annotations":{"nodeguard.io/early-warning-announced":"Degraded x",)"
            R"("nodeguard.io/early-warning-thresholds":null}}})");
}

TEST(WrittenNodesTest, FreshenPrefersTheNewerCopyAndForgetsWhatTheInformerCaughtUpWith) {
  WrittenNodes view;
  view.Written(NodeAt("w1", "12"));
  view.Written(NodeAt("w2", "20"));
  view.Written(NodeAt("gone", "5"));
  std::vector<std::shared_ptr<const kube::Node>> nodes = {NodeAt("w1", "10"), NodeAt("w2", "21"),
                                                          NodeAt("w3", "1")};
  view.Freshen(nodes);
  EXPECT_EQ(nodes[0]->meta.resource_version, "12");  // Our write, not delivered yet.
  EXPECT_EQ(nodes[1]->meta.resource_version, "21");  // The informer caught up.
  EXPECT_EQ(nodes[2]->meta.resource_version, "1");
  EXPECT_EQ(view.size(), 1u) << "w2 caught up, `gone` deleted: only w1 is kept";

  // Once the informer shows w1 at (or past) what we wrote, the view lets go.
  nodes = {NodeAt("w1", "12")};
  view.Freshen(nodes);
  EXPECT_EQ(view.size(), 0u);
}

TEST(WrittenNodesTest, ACopyReadAgainNeverReplacesANewerWrite) {
  WrittenNodes view;
  view.Written(NodeAt("w1", "30"));
  view.ReadAgain(NodeAt("w1", "29"));  // A slow GET answered with an older copy.
  std::vector<std::shared_ptr<const kube::Node>> nodes = {NodeAt("w1", "1")};
  view.Freshen(nodes);
  EXPECT_EQ(nodes[0]->meta.resource_version, "30");
  view.ReadAgain(NodeAt("w1", "31"));
  nodes = {NodeAt("w1", "1")};
  view.Freshen(nodes);
  EXPECT_EQ(nodes[0]->meta.resource_version, "31");
  // A write's answer is the newest there is, whatever the view held.
  view.Written(NodeAt("w1", "32"));
  nodes = {NodeAt("w1", "1")};
  view.Freshen(nodes);
  EXPECT_EQ(nodes[0]->meta.resource_version, "32");
}

}  // namespace
}  // namespace nodeguard::writes
