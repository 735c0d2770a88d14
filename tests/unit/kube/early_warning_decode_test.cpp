// The node informer's decoding of nodeguard.io/early-warning into
// kube::Node::early_warning: a table of annotation values, then the value
// inside a whole Node as the informer decodes it.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "common/time.h"
#include "kube/decode.h"
#include "kube/objects.h"

namespace nodeguard::kube {
namespace {

using L = EarlyWarningLevel;

struct Row {
  const char* name;
  std::string value;
  L level;
};

TEST(DecodeNodeEarlyWarning, Table) {
  const std::string since = R"("since":"2026-12-07T10:44:49Z")";
  const Row rows[] = {
      // As the agent writes it (docs/early-warning.md).
      {"agent record",
       R"({"level":"Critical","since":"2026-12-07T10:44:49Z","observedAt":"2026-12-07T10:44:49Z",)"
       R"("reason":"LastSeenOverCritical","figures":{"lastRelistAgeSeconds":31.0,"scrapePendingSeconds":31.0}})",
       L::kCritical},
      {"healthy", R"({"level":"Healthy",)" + since + "}", L::kHealthy},
      {"degraded", R"({"level":"Degraded",)" + since + "}", L::kDegraded},
      {"fields in any order", "{" + since + R"(,"level":"Degraded"})", L::kDegraded},
      {"unknown keys skipped", R"({"x":[1,{"y":2}],"level":"Healthy",)" + since + "}", L::kHealthy},
      {"empty", "", L::kUnknown},
      {"not JSON", "Critical", L::kUnknown},
      {"truncated", R"({"level":"Critical",)" + since, L::kUnknown},
      {"trailing garbage", R"({"level":"Critical",)" + since + "} x", L::kUnknown},
      {"an array", "[1,2]", L::kUnknown},
      {"a string", R"("Critical")", L::kUnknown},
      {"no level", "{" + since + "}", L::kUnknown},
      {"no since", R"({"level":"Critical"})", L::kUnknown},
      {"unknown level", R"({"level":"Fine",)" + since + "}", L::kUnknown},
      {"lowercase level", R"({"level":"critical",)" + since + "}", L::kUnknown},
      {"level not a string", R"({"level":2,)" + since + "}", L::kUnknown},
      {"bad since", R"({"level":"Critical","since":"yesterday"})", L::kUnknown},
      {"since not a string", R"({"level":"Critical","since":5})", L::kUnknown},
      {"too large",
       R"({"level":"Healthy",)" + since + R"(,"pad":")" + std::string(20000, 'a') + "\"}",
       L::kUnknown},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    const NodeEarlyWarning got = DecodeNodeEarlyWarning(row.value);
    EXPECT_EQ(EarlyWarningLevelName(got.level), std::string(EarlyWarningLevelName(row.level)));
    if (row.level != L::kUnknown) {
      EXPECT_EQ(FormatRfc3339(got.since), "2026-12-07T10:44:49Z");
    } else {
      EXPECT_EQ(got.since, Time{});
    }
  }
}

std::string NodeJson(const nlohmann::json& annotations) {
  nlohmann::json node = {{"apiVersion", "v1"},
                         {"kind", "Node"},
                         {"metadata", {{"name", "w1"}, {"uid", "u1"}, {"resourceVersion", "7"}}}};
  if (!annotations.is_null()) node["metadata"]["annotations"] = annotations;
  return node.dump();
}

TEST(DecodeNodeEarlyWarning, InTheNode) {
  auto absent = DecodeObject<Node>(NodeJson(nullptr));
  ASSERT_TRUE(absent.ok());
  EXPECT_EQ(absent->early_warning.level, L::kAbsent);

  auto other = DecodeObject<Node>(NodeJson({{"nodeguard.io/agent-status", "{}"}}));
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->early_warning.level, L::kAbsent);

  auto critical = DecodeObject<Node>(NodeJson(
      {{"nodeguard.io/early-warning",
        R"({"level":"Critical","since":"2026-12-07T10:44:49Z","observedAt":"2026-12-07T10:45:19Z"})"},
       {"zz", "kept out"}}));
  ASSERT_TRUE(critical.ok());
  EXPECT_EQ(critical->early_warning.level, L::kCritical);
  EXPECT_EQ(FormatRfc3339(critical->early_warning.since), "2026-12-07T10:44:49Z");

  // An unreadable annotation never makes the Node itself unreadable.
  auto garbage = DecodeObject<Node>(NodeJson({{"nodeguard.io/early-warning", "{not json"}}));
  ASSERT_TRUE(garbage.ok());
  EXPECT_EQ(garbage->early_warning.level, L::kUnknown);
  EXPECT_EQ(garbage->meta.name, "w1");

  // A list decodes each item's annotation with its own parser, in turn.
  nlohmann::json list = {
      {"apiVersion", "v1"},
      {"kind", "NodeList"},
      {"metadata", {{"resourceVersion", "9"}}},
      {"items",
       {nlohmann::json::parse(
            NodeJson({{"nodeguard.io/early-warning",
                       R"({"level":"Degraded","since":"2026-12-07T10:44:49Z"})"}})),
        nlohmann::json::parse(NodeJson({{"nodeguard.io/early-warning", "[]"}}))}}};
  auto decoded = DecodeList<Node>(list.dump());
  ASSERT_TRUE(decoded.ok());
  ASSERT_EQ(decoded->items.size(), 2u);
  EXPECT_EQ(decoded->items[0].early_warning.level, L::kDegraded);
  EXPECT_EQ(decoded->items[1].early_warning.level, L::kUnknown);
}

}  // namespace
}  // namespace nodeguard::kube
