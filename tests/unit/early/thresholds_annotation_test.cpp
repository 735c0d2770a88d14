#include "early/thresholds_annotation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace nodeguard::early {
namespace {

using ::testing::HasSubstr;

PolicyThresholds Sample() {
  PolicyThresholds t;
  t.policy = "workers";
  t.thresholds.degraded_relist_p99 = std::chrono::milliseconds(800);
  t.thresholds.calm_relist_p99 = std::chrono::milliseconds(300);
  t.thresholds.critical_last_seen = std::chrono::seconds(20);
  t.thresholds.calm_last_seen = std::chrono::seconds(5);
  t.thresholds.hold = std::chrono::seconds(90);
  return t;
}

TEST(ThresholdsAnnotation, RoundTrips) {
  const std::string encoded = EncodeThresholds(Sample());
  EXPECT_EQ(encoded,
            R"({"calmLastRelistAge":"5s","calmRelistP99":"300ms","criticalLastRelistAge":"20s",)"
            R"("degradedRelistP99":"800ms","hold":"1m30s","policy":"workers"})");
  auto decoded = DecodeThresholds(encoded);
  ASSERT_TRUE(decoded.ok()) << decoded.error().ToString();
  EXPECT_EQ(*decoded, Sample());
}

// The default marks with one field set to `value`.
std::string DefaultsWith(const char* field, const char* value) {
  nlohmann::json j = nlohmann::json::parse(EncodeThresholds(PolicyThresholds{"p", {}}));
  j[field] = value;
  return j.dump();
}

TEST(ThresholdsAnnotation, RefusesWhatThePolicyApiRefuses) {
  const struct {
    std::string json;
    const char* error;
  } cases[] = {
      {"", "not a JSON object"},
      {"[]", "not a JSON object"},
      {R"({"policy":"p"})", "degradedRelistP99: missing"},
      {DefaultsWith("degradedRelistP99", "fast"), "degradedRelistP99: "},
      {DefaultsWith("degradedRelistP99", "0s"), "longer than 0s"},
      {DefaultsWith("calmLastRelistAge", "0s"), "longer than 0s"},
      {DefaultsWith("calmRelistP99", "1s"), "calmRelistP99 must be below degradedRelistP99"},
      {DefaultsWith("calmLastRelistAge", "40s"),
       "calmLastRelistAge must be below criticalLastRelistAge"},
      {DefaultsWith("hold", "-2m"), "hold must not be negative"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.json);
    auto decoded = DecodeThresholds(c.json);
    ASSERT_FALSE(decoded.ok());
    EXPECT_THAT(decoded.error().message, HasSubstr(c.error));
  }
  EXPECT_TRUE(DecodeThresholds(DefaultsWith("hold", "0s")).ok());
}

TEST(ChooseThresholds, ThePolicysWhenReadableElseTheFlags) {
  Thresholds flags;
  flags.hold = std::chrono::minutes(7);

  ChosenThresholds c = ChooseThresholds(nullptr, flags);
  EXPECT_EQ(c.thresholds.hold, std::chrono::minutes(7));
  EXPECT_EQ(c.source, "flags");
  EXPECT_EQ(c.error, "");

  const std::string good = EncodeThresholds(Sample());
  c = ChooseThresholds(&good, flags);
  EXPECT_EQ(c.thresholds.hold, std::chrono::seconds(90));
  EXPECT_EQ(c.thresholds.degraded_relist_p99, std::chrono::milliseconds(800));
  EXPECT_EQ(c.source, "policy workers");
  EXPECT_EQ(c.error, "");

  const std::string bad = "{not json";
  c = ChooseThresholds(&bad, flags);
  EXPECT_EQ(c.thresholds.hold, std::chrono::minutes(7));
  EXPECT_EQ(c.source, "flags");
  EXPECT_EQ(c.error, "not a JSON object");
}

}  // namespace
}  // namespace nodeguard::early
